export { MAX_HEALTH_BODY, nodeHealthIo, nodeTimers, probe } from './health-probe.js'
