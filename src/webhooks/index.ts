export * from './activities';
export * from './deliveries';
export * from './endpoints';
export * from './errors';
export * from './events';
export * from './retry-policy';
export * from './service';
