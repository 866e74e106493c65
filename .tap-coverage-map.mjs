// Which test files count towards the coverage gate (tap `coverage-map`).
// The example-process tests run the packages in child processes compiled by tsx, whose
// coverage would be merged against other source maps; they test the examples, not the
// packages, so they provide no coverage. Every other test covers what it loads.
export default function coverageMap (testFile) {
  return testFile.replace(/\\/g, '/').startsWith('test/examples/') ? null : []
}
