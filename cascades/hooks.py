"""What cascades announce to the apps above them (attestations), which connect when they
are ready: cascades never import those apps. Each is sent inside the transaction of the
change, so a receiver's writes commit or roll back with it."""

from django.dispatch import Signal

# A deal was recorded: engagement, the agreed outcomes (dicts as the ops API takes them),
# and by (the actor of its events).
engagement_created = Signal()
# An engagement got a new structure (an override): engagement, by.
engagement_structure_changed = Signal()
