"""What the user wrote, checked and parsed into frozen records: the application model
(`application`, `semantics`), the transformer config (`config`), the modes file (`modes_file`),
and the JSON Schemas behind all three (`schema`, `schema_fast`)."""
