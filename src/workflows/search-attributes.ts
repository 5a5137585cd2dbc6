import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Registered on the Temporal server (dev server flags, docker-compose, test env) so support can filter by them. */
export const ACCOUNT_ID = defineSearchAttributeKey('CreditflowAccountId', SearchAttributeType.KEYWORD);
export const PLAN_ID = defineSearchAttributeKey('CreditflowPlanId', SearchAttributeType.KEYWORD);
export const STATUS = defineSearchAttributeKey('CreditflowStatus', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = [ACCOUNT_ID, PLAN_ID, STATUS];
