import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';

// Electron build: thin glue in src/main/electron, the typed preload, and the React renderer.
export default defineConfig({
  main: {
    build: {
      rollupOptions: { input: { index: 'src/main/electron/main.ts' } },
    },
  },
  preload: {
    build: {
      rollupOptions: { input: { index: 'src/preload/index.ts' } },
    },
  },
  renderer: {
    root: 'src/renderer',
    plugins: [react()],
    build: {
      rollupOptions: { input: { index: 'src/renderer/index.html' } },
    },
  },
});
