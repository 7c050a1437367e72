import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The renderer as a plain web build (web mode and tests); electron.vite.config.ts builds the same
// sources for the Electron shell.
export default defineConfig({
  root: 'src/renderer',
  base: './',
  plugins: [react()],
  build: {
    outDir: '../../dist/renderer',
    emptyOutDir: true,
  },
});
