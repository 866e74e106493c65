import { startFastify } from '../helpers/gateways.js'
import { runConformance } from './suite.js'

runConformance({ name: 'fastify', start: startFastify })
