export * from './errors.js';
export * from './jobs.js';
export * from './profile.js';
