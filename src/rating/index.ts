export * from './rater';
export * from './schema';
export * from './sms-segments';
export * from './voice-minutes';
