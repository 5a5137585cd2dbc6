import express, { type Express } from 'express';
import { notFoundHandler, problemHandler, type ErrorLogger } from './errors';
import { createRegistry, generateDocument, serveDocs } from './openapi';
import { createApi, type ApiDeps, type ApiOptions, type RouteModule, type RouteSummary } from './route';
import { accountRoutes } from './routes/accounts';
import { apiKeyRoutes } from './routes/api-keys';
import { catalogRoutes } from './routes/catalog';
import { forecastRoutes } from './routes/forecast';
import { holdRoutes } from './routes/holds';
import { ledgerRoutes } from './routes/ledger';
import { listRoutes } from './routes/lists';
import { reportRoutes } from './routes/reports';
import { subAccountRoutes } from './routes/sub-accounts';
import { subscriptionRoutes } from './routes/subscriptions';
import { usageRoutes } from './routes/usage';

export type { ApiDeps } from './route';

/** Every route module, in the order they appear in the OpenAPI document. Adding one: import it, list it here. */
const ROUTE_MODULES: RouteModule[] = [
  accountRoutes,
  apiKeyRoutes,
  catalogRoutes,
  ledgerRoutes,
  subscriptionRoutes,
  usageRoutes,
  holdRoutes,
  reportRoutes,
  forecastRoutes,
  subAccountRoutes,
  listRoutes,
];

export interface AppOptions extends ApiOptions {
  /** Where unexpected (500) errors are reported; console.error by default. */
  log?: ErrorLogger;
}

export type CreditflowApp = Express & { locals: { routes: RouteSummary[] } };

/** The HTTP front door: thin routes over the ledger and the subscription service. Listening is the caller's job. */
export function createApp(deps: ApiDeps, options: AppOptions = {}): CreditflowApp {
  const app = express() as CreditflowApp;
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  const registry = createRegistry();
  const router = express.Router();
  const routes: RouteSummary[] = [];
  const api = createApi({ deps, router, registry, options, routes });
  for (const mount of ROUTE_MODULES) mount(api);
  app.locals.routes = routes;

  app.use(router);
  serveDocs(app, generateDocument(registry, deps.catalog.version));
  app.use(notFoundHandler);
  app.use(problemHandler(options.log ?? ((message, fields) => console.error(message, fields))));
  return app;
}
