"""Every operation faceledger serves, by the name its wire protocol, its REST API and access keys
use, and the engine method that is the operation: one table, written out, so that a search for
either name finds the other."""

from __future__ import annotations

# Amazon Rekognition's, served in its own protocol and in the REST API.
REKOGNITION = {
    "DetectFaces": "detect_faces",
    "CompareFaces": "compare_faces",
    "DetectLabels": "detect_labels",
    "CreateCollection": "create_collection",
    "DescribeCollection": "describe_collection",
    "ListCollections": "list_collections",
    "DeleteCollection": "delete_collection",
    "IndexFaces": "index_faces",
    "ListFaces": "list_faces",
    "DeleteFaces": "delete_faces",
    "SearchFaces": "search_faces",
    "SearchFacesByImage": "search_faces_by_image",
    "CreateUser": "create_user",
    "DeleteUser": "delete_user",
    "ListUsers": "list_users",
    "AssociateFaces": "associate_faces",
    "DisassociateFaces": "disassociate_faces",
    "SearchUsers": "search_users",
    "SearchUsersByImage": "search_users_by_image",
    "StartFaceDetection": "start_face_detection",
    "GetFaceDetection": "get_face_detection",
    "StartFaceSearch": "start_face_search",
    "GetFaceSearch": "get_face_search",
    "StartLabelDetection": "start_label_detection",
    "GetLabelDetection": "get_label_detection",
    "CreateStreamProcessor": "create_stream_processor",
    "DescribeStreamProcessor": "describe_stream_processor",
    "ListStreamProcessors": "list_stream_processors",
    "StartStreamProcessor": "start_stream_processor",
    "StopStreamProcessor": "stop_stream_processor",
    "UpdateStreamProcessor": "update_stream_processor",
    "DeleteStreamProcessor": "delete_stream_processor",
}

# faceledger's own, served by the REST API.
NATIVE = {
    "PutCollectionPolicy": "put_collection_policy",
    "GetCollectionPolicy": "get_collection_policy",
    "ListLedger": "list_ledger",
    "VerifyLedger": "verify_ledger",
    "ListReviewCandidates": "list_review_candidates",
    "ReviewCandidate": "review_candidate",
    "ListIdentifications": "list_identifications",
    "Erase": "erase",
    "RunRetention": "run_retention",
    "DetectLiveness": "detect_liveness",
    "PutStreamEndpoint": "put_stream_endpoint",
    "ListStreamEndpoints": "list_stream_endpoints",
    "DeleteStreamEndpoint": "delete_stream_endpoint",
}

OPERATIONS = {**REKOGNITION, **NATIVE}

# Operations that reach across collections unless one is named.
ACROSS_COLLECTIONS = frozenset(
    {
        "ListLedger",
        "VerifyLedger",
        "ListReviewCandidates",
        "ReviewCandidate",
        "ListIdentifications",
        "RunRetention",
    }
)
