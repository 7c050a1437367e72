export * from './format.js';
export * from './entries.js';
export * from './generate.js';
export * from './read.js';
