-- The "Try your agent" customer and its orders are real rows (the whole pipeline runs on them),
-- but they are the merchant's own tests: lists show them marked, numbers leave them out.
alter table customers add column is_test boolean not null default false;
alter table orders add column is_test boolean not null default false;

-- Playground customers made before this column: the fixed name on a +1 555 number.
update customers set is_test = true
 where name = 'You (trying the agent)' and phone like '+1555%';
update orders o set is_test = true
  from customers c where c.id = o.customer_id and c.is_test;
