-- Per-mode stats are Analytics Engine data points (src/control/stats.ts), not counters here.
DROP TABLE IF EXISTS counters;
DROP TABLE IF EXISTS timeline;
