-- When the agent answers (issue 11 §6): at all hours, only outside the shop's opening hours
-- (the merchant answers during them), or only during them. Opening hours are one daily window
-- on chosen ISO weekdays (1 = Monday) in the shop's IANA time zone; a window that closes
-- before it opens runs past midnight.
alter table agent_settings
    add column answers_when text not null default 'always'
        check (answers_when in ('always', 'outside_hours', 'during_hours')),
    add column hours_days smallint[] not null default '{1,2,3,4,5}',
    add column hours_open time not null default '09:00',
    add column hours_close time not null default '17:00',
    add column time_zone text not null default 'UTC';
