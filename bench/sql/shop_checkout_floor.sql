-- The raw-SQL floor of one flash-sale checkout: the writes POST /api/v1/shop/<brand>/checkout
-- makes for one unit picked up at one store, as one transaction, with none of the reads, checks,
-- pricing, ORM or HTTP around them. Run by pgbench (bench/shop_flash_sale.py) with
-- -D consumers=<n> -D level_id=... -D brand_id=... -D location_id=... -D variant_id=...
-- -D price=... -D keep=<safety stock>. Every row it writes is numbered SFLOOR-<id> and taken back
-- by shop_checkout_floor_cleanup.sql.
\set k random(1, :consumers)
BEGIN;
SELECT consumer_id FROM bench_shop_floor_consumers WHERE k = :k \gset
-- the one conditional reservation on the sale's one level, keeping the safety stock
UPDATE stock_levels SET reserved = reserved + 1
 WHERE id = :level_id AND on_hand - reserved >= 1 + :keep;
-- the order, numbered from its own id
INSERT INTO consumer_orders (id, number, brand_id, consumer_id, tier, status, fulfilment,
                             location_id, checkout_token, currency, goods_cents, delivery_cents,
                             total_cents, pay_cents, discount_cents, points_used, points_cents,
                             wallet_cents, refunded_cents, total_qty, contact_name, contact_phone,
                             address,
                             expires_at, cancel_reason, carrier, tracking_number, created_at,
                             updated_at)
SELECT n.id, 'SFLOOR-' || n.id, :brand_id, :consumer_id, 'official', 'awaiting_payment',
       'pickup', :location_id, 'floor-' || n.id, 'CNY', :price, 0, :price, :price, 0, 0, 0, 0, 0,
       1, '', '', '{}',
       now() + interval '15 minutes', '', '', '', now(), now()
  FROM (SELECT nextval('consumer_orders_id_seq') AS id) n
RETURNING id AS order_id \gset
INSERT INTO consumer_order_lines (order_id, brand_id, variant_id, grade, qty, unit_price_cents,
                                  line_cents, discount_cents)
VALUES (:order_id, :brand_id, :variant_id, 'A', 1, :price, :price, 0);
-- the ledger row of the reservation
INSERT INTO stock_moves (brand_id, location_id, variant_id, grade, on_hand_delta, reserved_delta,
                         reason, reference, note, occurred_at, created_at, updated_at)
VALUES (:brand_id, :location_id, :variant_id, 'A', 0, 1, 'reserve', 'SFLOOR-' || :order_id, '',
        now(), now(), now());
-- its timeline
INSERT INTO consumer_order_events (order_id, brand_id, kind, from_status, to_status, by_consumer,
                                   details, created_at)
VALUES (:order_id, :brand_id, 'placed', '', 'awaiting_payment', true, '{}', now());
-- the payment waiting for it, and the order pointing at it
INSERT INTO payments (brand_id, reference, payable_kind, payable_id, amount_cents, currency,
                      provider, status, expires_at, created_at, updated_at)
VALUES (:brand_id, 'SFLOOR-' || :order_id, 'consumer_order', :order_id, :price, 'CNY', 'test',
        'pending', now() + interval '15 minutes', now(), now())
RETURNING id AS payment_id \gset
UPDATE consumer_orders SET payment_id = :payment_id WHERE id = :order_id;
COMMIT;
