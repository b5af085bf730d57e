"""The users command: faces of one person grouped under a UserId, and searches for users."""

from __future__ import annotations

from pathlib import Path

from .common import add_detector, add_search_context, all_pages, engine, show


def users(args) -> int:
    fl, c, a = engine(args), args.collection, args
    if a.action == "create":
        return show(fl.create_user(CollectionId=c, UserId=a.user_id))
    if a.action == "delete":
        return show(fl.delete_user(CollectionId=c, UserId=a.user_id))
    if a.action == "list":
        return show(all_pages(fl.list_users, "Users", CollectionId=c))
    if a.action == "associate":
        return show(
            fl.associate_faces(
                CollectionId=c, UserId=a.user_id, FaceIds=a.face_ids, UserMatchThreshold=a.threshold
            )
        )
    if a.action == "disassociate":
        return show(fl.disassociate_faces(CollectionId=c, UserId=a.user_id, FaceIds=a.face_ids))
    if a.action == "search":
        return show(
            fl.search_users(
                CollectionId=c, UserId=a.user_id, FaceId=a.face_id, UserMatchThreshold=a.threshold
            )
        )
    return show(
        fl.search_users_by_image(
            CollectionId=c, Image=Path(a.image), UserMatchThreshold=a.threshold, detector=a.detector
        )
    )


def register(sub) -> None:
    p = sub.add_parser("users", help="users: faces of one person grouped under a UserId")
    p.add_argument(
        "action",
        choices=["create", "delete", "list", "associate", "disassociate", "search", "search-by-image"],
    )
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--user-id", metavar="USER")
    p.add_argument("--face-ids", nargs="+", metavar="FACE_ID", help="for associate and disassociate")
    p.add_argument("--face-id", metavar="FACE_ID", help="for search by face")
    p.add_argument("--image", metavar="IMAGE", help="for search-by-image")
    p.add_argument("--threshold", type=float, metavar="N", help="UserMatchThreshold 0-100")
    add_search_context(p)
    add_detector(p)
    p.set_defaults(func=users)
