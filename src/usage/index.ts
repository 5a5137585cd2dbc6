export * from './schema';
export * from './service';
export * from './temporal-signaler';
export * from './threshold-dispatcher';
export * from './retention';
