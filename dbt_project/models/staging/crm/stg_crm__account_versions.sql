-- Every version of every account, as loaded (point-in-time history of the CRM's current-state
-- exports; macros/history.sql). One row per account and version: the version known on D is
-- the row with valid_from <= D < valid_to (valid_to null: current); macro known_on.
{{ scd2_versions(
    source('raw', 'accounts'),
    'account_id',
    expressions={
        'segment': "case lower(trim(segment)) when 'smb' then 'SMB' when 'mid-market' then 'Mid-Market'"
            ~ " when 'enterprise' then 'Enterprise' else trim(segment) end",
    },
) }}
