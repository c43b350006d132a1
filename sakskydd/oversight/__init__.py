"""The chef's consolidated picture and the stadsövergripande säkerhetsanalys (DOMAIN.md §5)."""
