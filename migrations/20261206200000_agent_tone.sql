-- The AI agent's tone (issue 11 §6), chosen on the settings card: friendly (the default),
-- formal, or brief. The shop assistant's fixed texts do not change with it.
alter table agent_settings
    add column tone text not null default 'friendly' check (tone in ('friendly', 'formal', 'brief'));
