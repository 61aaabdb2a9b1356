-- 0005_policy: reserved; filled in by the change that needs it.
SELECT 1;
