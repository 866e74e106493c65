/**
 * Sticky sessions with the core alone, in the plain node:http proxy of ./proxy.ts.
 *
 *   npm run --silent example:custom
 *   STICKY_UPSTREAMS=node1=http://127.0.0.1:8081,node2=http://127.0.0.1:8082 STICKY_ROUTE_COOKIE=ROUTEID npm run --silent example:custom
 *
 * The variables are described in ../README.md; without STICKY_UPSTREAMS, demo members are started.
 */
import { runExample, serve } from '../shared/run.js'
import { createCustomGateway } from './proxy.js'

await runExample('custom', async ({ members, options, port, host }) =>
  await serve(createCustomGateway({ ...options, members }), port, host))
