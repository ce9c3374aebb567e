-- The raw-SQL floor of one 10-line order: the writes POST /api/v1/orders makes, as one
-- transaction, with none of the reads, checks, pricing or HTTP around them. Run by pgbench
-- (bench/orders.py) with -D slots=<n>; each transaction takes one prepared order from
-- bench_floor_slots (see floor_setup.sql). Everything it writes carries the reference
-- BENCH-FLOOR and is taken back by floor_cleanup.sql.
\set slot random(1, :slots)
BEGIN;
SELECT buyer_org_id, supplier_org_id, brand_id, link_id, src, dst, total, currency, qty,
       v1, v2, v3, v4, v5, v6, v7, v8, v9, v10,
       q1, q2, q3, q4, q5, q6, q7, q8, q9, q10
  FROM bench_floor_slots WHERE slot = :slot \gset
-- the order, numbered from its own id (the portal numbers it in a second statement)
INSERT INTO orders (id, number, brand_id, buyer_org_id, supplier_org_id, link_id, kind, status,
                    currency, total_cents, total_qty, source_location_id,
                    destination_location_id, po_number, note, hold_reason, submitted_at,
                    created_at, updated_at)
SELECT n.id, 'FLOOR-' || n.id, :brand_id::int, :buyer_org_id::int, :supplier_org_id::int,
       :link_id::int, 'b2b', 'submitted', :currency::text, :total::bigint, :qty::int,
       :src::int, :dst::int, 'BENCH-FLOOR', '', '', now(), now(), now()
  FROM (SELECT nextval('orders_id_seq') AS id) n
RETURNING id AS order_id \gset
-- its ten lines, in one statement
INSERT INTO order_lines (order_id, brand_id, variant_id, sku, qty, unit_price_cents, msrp_cents,
                         line_total_cents, shipped_qty, received_qty, returned_qty)
SELECT :order_id::bigint, :brand_id::int, s.variant_id, s.sku, s.qty, s.price, s.msrp, s.qty * s.price, 0, 0, 0
  FROM bench_floor_lines s WHERE s.slot = :slot;
-- ten conditional reservations, one statement each, in variant order (as apply_moves does)
UPDATE stock_levels SET reserved = reserved + :q1::int
 WHERE location_id = :src::int AND variant_id = :v1::int AND grade = 'A'
   AND on_hand - reserved >= :q1::int;
UPDATE stock_levels SET reserved = reserved + :q2::int
 WHERE location_id = :src::int AND variant_id = :v2::int AND grade = 'A'
   AND on_hand - reserved >= :q2::int;
UPDATE stock_levels SET reserved = reserved + :q3::int
 WHERE location_id = :src::int AND variant_id = :v3::int AND grade = 'A'
   AND on_hand - reserved >= :q3::int;
UPDATE stock_levels SET reserved = reserved + :q4::int
 WHERE location_id = :src::int AND variant_id = :v4::int AND grade = 'A'
   AND on_hand - reserved >= :q4::int;
UPDATE stock_levels SET reserved = reserved + :q5::int
 WHERE location_id = :src::int AND variant_id = :v5::int AND grade = 'A'
   AND on_hand - reserved >= :q5::int;
UPDATE stock_levels SET reserved = reserved + :q6::int
 WHERE location_id = :src::int AND variant_id = :v6::int AND grade = 'A'
   AND on_hand - reserved >= :q6::int;
UPDATE stock_levels SET reserved = reserved + :q7::int
 WHERE location_id = :src::int AND variant_id = :v7::int AND grade = 'A'
   AND on_hand - reserved >= :q7::int;
UPDATE stock_levels SET reserved = reserved + :q8::int
 WHERE location_id = :src::int AND variant_id = :v8::int AND grade = 'A'
   AND on_hand - reserved >= :q8::int;
UPDATE stock_levels SET reserved = reserved + :q9::int
 WHERE location_id = :src::int AND variant_id = :v9::int AND grade = 'A'
   AND on_hand - reserved >= :q9::int;
UPDATE stock_levels SET reserved = reserved + :q10::int
 WHERE location_id = :src::int AND variant_id = :v10::int AND grade = 'A'
   AND on_hand - reserved >= :q10::int;
-- the ledger rows of those reservations, in one statement
INSERT INTO stock_moves (brand_id, location_id, variant_id, grade, on_hand_delta, reserved_delta,
                         reason, reference, note, actor_org_id, occurred_at, created_at,
                         updated_at)
SELECT :brand_id::int, :src::int, s.variant_id, 'A', 0, s.qty, 'reserve', 'BENCH-FLOOR', '',
       :buyer_org_id::int, now(), now(), now()
  FROM bench_floor_lines s WHERE s.slot = :slot;
-- the credit the order commits
UPDATE accounts SET committed_cents = committed_cents + :total::bigint, updated_at = now()
 WHERE link_id = :link_id;
-- its timeline
INSERT INTO order_events (order_id, brand_id, kind, from_status, to_status, note, details,
                          actor_org_id, created_at)
VALUES (:order_id::bigint, :brand_id::int, 'submitted', '', 'submitted', '', '{"lines": 10}', :buyer_org_id::int,
        now());
-- the Idempotency-Key with the stored response
INSERT INTO idempotency_keys (org_id, key, request_hash, response_status, response_body,
                              order_id, created_at)
VALUES (:buyer_org_id::int, 'floor-' || gen_random_uuid(), md5(random()::text) || md5(random()::text),
        201, '{"number": "floor"}', :order_id::bigint, now());
COMMIT;
