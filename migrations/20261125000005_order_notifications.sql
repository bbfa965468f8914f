-- Merchants choose whether each new order is also sent to them by email (issue 4).
alter table shops add column notify_new_orders boolean not null default true;
