-- The shop's time zone (issue 13): every date and time the merchant reads — dashboard, the
-- overview's days, exports, emails — and the agent's opening hours use one IANA zone, asked at
-- set-up and defaulted from the browser. The opening hours had a zone of their own; it becomes
-- the shop's.
alter table shops add column time_zone text not null default 'UTC';
update shops s set time_zone = a.time_zone
from agent_settings a
where a.shop_id = s.id and a.time_zone <> 'UTC';
alter table agent_settings drop column time_zone;

-- Chosen on the signup form, kept until the link is used and the shop created.
alter table signup_requests
    add column currency text,
    add column time_zone text;
