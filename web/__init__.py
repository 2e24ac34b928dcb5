"""web transport."""
