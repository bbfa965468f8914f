-- Issue 11 §5: an optional timeout that hands a conversation back to the assistant when the
-- person who took it over has written nothing for this long. Null: only by hand.
alter table agent_settings
    add column hand_back_after_minutes integer
        check (hand_back_after_minutes between 5 and 10080);
