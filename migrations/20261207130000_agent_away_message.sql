-- While the shop is closed and the agent answers only during opening hours, a customer who
-- writes gets the merchant's away message (once per half day per conversation) instead of
-- silence. Empty: no away message.
alter table agent_settings add column away_message text not null default '';
