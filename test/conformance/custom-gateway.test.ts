import type { AddressInfo } from 'node:net'
import { createCustomGateway } from '../../examples/custom-gateway/proxy.js'
import { listen } from '../helpers/listen.js'
import { runConformance } from './suite.js'

runConformance({
  name: 'custom-gateway (core on plain node:http)',
  async start (options, { prefix }) {
    const server = await listen(createCustomGateway({ ...options, prefix }))
    return {
      origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections()
        await new Promise<void>(resolve => server.close(() => resolve()))
      }
    }
  }
})
