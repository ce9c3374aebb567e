-- Take back everything the flash-sale floor wrote: the sale's level returns to the values saved
-- before it ran, and the floor's orders, lines, events, payments and ledger rows (all numbered
-- SFLOOR-<id>) go. Ledger and timeline tables are append-only (a trigger refuses DELETE); this
-- one session sets session_replication_role = replica, which skips triggers, to delete rows that
-- the floor itself wrote and nothing else refers to.
SET LOCAL session_replication_role = replica;

UPDATE stock_levels l SET on_hand = b.on_hand, reserved = b.reserved
  FROM bench_shop_floor_level b WHERE l.id = b.id;

DELETE FROM consumer_order_events WHERE order_id IN (
  SELECT id FROM consumer_orders WHERE number LIKE 'SFLOOR-%');
DELETE FROM consumer_order_lines WHERE order_id IN (
  SELECT id FROM consumer_orders WHERE number LIKE 'SFLOOR-%');
UPDATE consumer_orders SET payment_id = NULL WHERE number LIKE 'SFLOOR-%';
DELETE FROM payments WHERE reference LIKE 'SFLOOR-%';
DELETE FROM consumer_orders WHERE number LIKE 'SFLOOR-%';
DELETE FROM stock_moves WHERE reference LIKE 'SFLOOR-%';

DROP TABLE bench_shop_floor_consumers, bench_shop_floor_level;
