export * from './ledger';
export * from './keys';
