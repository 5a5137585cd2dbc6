export * from './forecast';
export * from './compute';
export * from './schema';
