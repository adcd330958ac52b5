-- The local stand-in for the Analytics Engine dataset: one row per data point, the same columns.
CREATE TABLE points (
  at INTEGER NOT NULL,
  blob1 TEXT NOT NULL, blob2 TEXT NOT NULL, blob3 TEXT NOT NULL,
  double1 REAL NOT NULL, double2 REAL NOT NULL, double3 REAL NOT NULL,
  double4 REAL NOT NULL, double5 REAL NOT NULL, double6 REAL NOT NULL, double7 REAL NOT NULL
);
