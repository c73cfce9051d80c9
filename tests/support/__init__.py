"""What the tests share and are not tests themselves: events, servers on loopback, fake exports, pictures."""
