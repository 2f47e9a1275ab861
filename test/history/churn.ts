// The churn driver lives in bench/load/churn.ts, shared with the benchmark's churn part (bench/ may not
// import from test/): this test keeps its import.
export { type ChurnOptions, type ChurnReport, churn } from '../../bench/load/churn.js';
