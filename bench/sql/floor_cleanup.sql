-- Take back everything the raw-SQL floor wrote, leaving the database as it was before it ran:
-- the touched stock levels and accounts return to the values saved by floor_setup.sql, and the
-- floor's orders, lines, events, keys and ledger rows go. Ledger tables are append-only (a
-- trigger refuses DELETE); this one session sets session_replication_role = replica, which
-- skips triggers, to delete rows that the floor itself wrote and nothing else refers to.
SET LOCAL session_replication_role = replica;

UPDATE stock_levels l SET reserved = b.reserved
  FROM bench_floor_levels b WHERE l.id = b.id AND l.reserved <> b.reserved;

UPDATE accounts a SET committed_cents = b.committed_cents, updated_at = b.updated_at
  FROM bench_floor_accounts b WHERE a.id = b.id;

DELETE FROM idempotency_keys WHERE order_id IN (
  SELECT id FROM orders WHERE id > (SELECT max_order_id FROM bench_floor_mark)
                          AND po_number = 'BENCH-FLOOR');
DELETE FROM order_events WHERE order_id IN (
  SELECT id FROM orders WHERE id > (SELECT max_order_id FROM bench_floor_mark)
                          AND po_number = 'BENCH-FLOOR');
DELETE FROM order_lines WHERE order_id IN (
  SELECT id FROM orders WHERE id > (SELECT max_order_id FROM bench_floor_mark)
                          AND po_number = 'BENCH-FLOOR');
DELETE FROM orders WHERE id > (SELECT max_order_id FROM bench_floor_mark)
                     AND po_number = 'BENCH-FLOOR';
DELETE FROM stock_moves WHERE reference = 'BENCH-FLOOR';

DROP TABLE bench_floor_lines, bench_floor_slots, bench_floor_levels, bench_floor_accounts,
           bench_floor_mark;
