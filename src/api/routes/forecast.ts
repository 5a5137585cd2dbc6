import { loadForecast } from '../../forecast/compute';
import { AccountForecastView, ForecastQuery, forecastView } from '../../forecast/schema';
import { READERS } from '../auth';
import { ApiError } from '../errors';
import type { RouteModule } from '../route';
import { AccountIdParams } from '../schemas';

const ForecastQuerySchema = ForecastQuery.meta({ id: 'ForecastQuery' });
const ForecastSchema = AccountForecastView.meta({ id: 'Forecast' });

export const forecastRoutes: RouteModule = ({ route, deps: { sql, catalog } }) => {
  route({
    method: 'get',
    path: '/v1/accounts/{id}/forecast',
    tag: 'reports',
    summary: 'When the credits will run out, per credit type, and what would cover the rest of the period',
    description: 'Burn rate over the trailing 7 and 30 days, projected in the ledger\'s burn order with scheduled '
      + 'expiries and the renewals of active subscriptions (rollover included), to the first instant nothing is '
      + 'left. The headline uses the faster window. A sub-account on shared billing is forecast on its parent\'s '
      + 'credits (all usage drawing from them).',
    roles: READERS,
    request: { params: AccountIdParams, query: ForecastQuerySchema },
    responses: { 200: { description: 'the forecast', schema: ForecastSchema } },
    problems: ['not_found'],
    async handler({ params, query }) {
      const as_of_ms = query.as_of === undefined ? Date.now() : Date.parse(query.as_of);
      const f = await loadForecast({ sql, catalog: () => catalog }, { account_id: params.id, as_of_ms });
      if (!f) throw new ApiError('not_found', `no account ${params.id}`);
      return { status: 200, body: forecastView(f) };
    },
  });
};
