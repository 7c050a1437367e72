// `node --import ./register.mjs out/main/index.js`: resolves the `electron` import of the built main
// bundle to the recorded stand-in (electron.mjs) instead of the real module, whose binary is absent.
import { register } from 'node:module';

const standIn = new URL('./electron.mjs', import.meta.url).href;
const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'electron') return { url: ${JSON.stringify(standIn)}, shortCircuit: true };
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url);
