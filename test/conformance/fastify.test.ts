import { startFastify } from '../helpers/gateways.js'
import { runLifecycle } from './lifecycle.js'
import { runConformance } from './suite.js'

runConformance({ name: 'fastify', start: startFastify })
runLifecycle({ name: 'fastify', start: startFastify })
