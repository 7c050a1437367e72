import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';

// Electron build (out/): the thin glue in src/main/electron (out/main/index.js), the station core
// it starts in a utility process (out/main/core.js; npm dependencies stay external with their
// native modules), the sandboxed preload (CommonJS: sandboxed preloads cannot be ES modules), and
// the same React renderer as web mode.
export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: { input: { index: 'src/main/electron/main.ts', core: 'src/main/core/core-main.ts' } },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rollupOptions: {
        input: { index: 'src/preload/index.ts' },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'src/renderer',
    plugins: [react()],
    build: {
      outDir: 'out/renderer',
      minify: true,
      rollupOptions: { input: { index: 'src/renderer/index.html' } },
    },
  },
});
