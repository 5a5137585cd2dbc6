import { Catalog } from '../../catalog/schema';
import { EVERY_ROLE } from '../auth';
import type { RouteModule } from '../route';

// catalog/schema.ts may be loaded before zod is extended, so the name is given with zod's own .meta().
const CatalogSchema = Catalog.meta({ id: 'Catalog' });

export const catalogRoutes: RouteModule = ({ route, deps: { catalog } }) => {
  route({
    method: 'get',
    path: '/v1/catalog',
    tag: 'catalog',
    summary: 'Credit types, plans and bundles on sale',
    roles: EVERY_ROLE,
    responses: { 200: { description: 'the catalog', schema: CatalogSchema } },
    async handler() {
      return { status: 200, body: catalog };
    },
  });
};
