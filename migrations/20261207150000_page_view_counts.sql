-- A row counts identical views (same shop, page, referrer host, device and bot flag) within one
-- minute: a popular page answered from the byte cache tens of thousands of times a second would
-- otherwise be as many rows, and the database's work would grow with the traffic.
alter table page_views add column views integer not null default 1 check (views > 0);
