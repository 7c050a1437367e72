// The only bridge between the sandboxed renderer and the station: two functions over two fixed IPC
// channels. No Node APIs, no ipcRenderer, nothing else reaches the page (contextIsolation + sandbox).
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { ELECTRON_EVENT_CHANNEL, ELECTRON_INVOKE_CHANNEL, type BridgeResult, type PreloadBridge } from '../shared/ipc-channels.js';

const bridge: PreloadBridge = {
  invoke: (channel, request) => ipcRenderer.invoke(ELECTRON_INVOKE_CHANNEL, String(channel), request) as Promise<BridgeResult>,
  on: (listener) => {
    const handler = (_e: IpcRendererEvent, event: string, payload: unknown): void => listener(event, payload);
    ipcRenderer.on(ELECTRON_EVENT_CHANNEL, handler);
    return () => {
      ipcRenderer.removeListener(ELECTRON_EVENT_CHANNEL, handler);
    };
  },
};

contextBridge.exposeInMainWorld('tdsStation', bridge);
