export { MAX_HEALTH_BODY, nodeHealthIo, nodeTimers, probe } from './health-probe.js'
export { closeAfterFlush, forwardUpgrade, writeBalancerResponse } from './upgrade.js'
export type { UpgradeForwarding } from './upgrade.js'
export { readBody, watchConnect } from './streams.js'
