// Which test files count towards the coverage gate (tap `coverage-map`).
// The tests that run examples or whole gateway lifetimes in child processes compiled by tsx
// (test/examples/, test/process/, test/websocket/example.test.ts) would merge their coverage
// against other source maps and corrupt the report; they test whole processes, not the packages'
// lines, so they provide no coverage. Every other test covers what it loads.
const PROCESS_TESTS = ['test/examples/', 'test/process/', 'test/websocket/example.test.ts']

export default function coverageMap (testFile) {
  const file = testFile.replace(/\\/g, '/')
  return PROCESS_TESTS.some(prefix => file.startsWith(prefix)) ? null : []
}
