-- 0004_gc: reserved; filled in by the change that needs it.
SELECT 1;
