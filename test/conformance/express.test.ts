import stickyroute from '@stickyroute/express'
import express from 'express'
import type { AddressInfo } from 'node:net'
import { runConformance } from './suite.js'
import { listen } from '../helpers/listen.js'

runConformance({
  name: 'express',
  async start (options, { prefix }) {
    const app = express()
    app.get('/health', (_req, res) => { res.send('gateway ok\n') })
    if (prefix === '') app.use(stickyroute(options))
    else app.use(prefix, stickyroute(options))
    const server = await listen(app)
    return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: async () => { await closeServer(server) } }
  }
})

async function closeServer (server: import('node:http').Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
}
