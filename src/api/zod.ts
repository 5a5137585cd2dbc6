import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

/**
 * The API's zod: extended once with `.openapi()` so request, response and parameter schemas can carry OpenAPI
 * metadata. Every file under src/api imports `z` from here, which guarantees the extension ran first.
 */
extendZodWithOpenApi(z);

export { z };
