import stickyroute from '@stickyroute/fastify'
import Fastify from 'fastify'
import { runConformance } from './suite.js'

runConformance({
  name: 'fastify',
  async start (options, { prefix }) {
    const app = Fastify()
    app.get('/health', async () => 'gateway ok\n')
    await app.register(stickyroute, { ...options, prefix })
    const origin = await app.listen({ port: 0, host: '127.0.0.1' })
    return { origin, close: async () => { await app.close() } }
  }
})
