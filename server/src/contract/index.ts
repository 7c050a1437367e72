export * from './mac.js';
export * from './topics.js';
export * from './api.js';
export * from './identities.js';
export * from './bootstrap.js';
